// expect: CIRCUIT_TOO_LARGE
// the old qreg form inside OpenQASM 3
OPENQASM 3.0;
include "stdgates.inc";
qreg q[1000000000];
