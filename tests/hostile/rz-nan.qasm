// expect: CIRCUIT_INVALID
// inf - inf
OPENQASM 2.0;
include "qelib1.inc";
qreg q[1];
rz(1e308*1e308 - 1e308*1e308) q[0];
