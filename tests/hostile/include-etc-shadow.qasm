// expect: FILE_UNREADABLE
// the same message whether readable, unreadable or absent
OPENQASM 2.0;
include "/etc/shadow";
