// expect: CIRCUIT_TOO_LARGE
// classical bits likewise
OPENQASM 2.0;
include "qelib1.inc";
qreg q[1];
creg c[1000000000];
