// expect: FILE_UNREADABLE
// an endless device
OPENQASM 2.0;
include "/dev/zero";
