// expect: FILE_UNREADABLE
// a file that does not exist: the same message
OPENQASM 2.0;
include "/etc/proxima-no-such-file";
