// expect: FILE_UNREADABLE
// OpenQASM 3
OPENQASM 3.0;
include "/etc/passwd";
