// expect: FILE_UNREADABLE
// the server's own environment
OPENQASM 2.0;
include "/proc/self/environ";
