// expect: FILE_UNREADABLE
// answered 'root' is not defined: the file's contents
OPENQASM 2.0;
include "/etc/passwd";
