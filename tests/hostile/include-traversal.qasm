// expect: FILE_UNREADABLE
// relative ../ out of the folder
OPENQASM 2.0;
include "../../../../../../../../../../etc/passwd";
