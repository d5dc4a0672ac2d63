// expect: CIRCUIT_INVALID
// OpenQASM 3
OPENQASM 3.0;
include "stdgates.inc";
qubit[1] q;
rz(1e308*1e308) q[0];
