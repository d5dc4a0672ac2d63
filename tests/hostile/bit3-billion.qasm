// expect: CIRCUIT_TOO_LARGE
// OpenQASM 3 bit[...]
OPENQASM 3.0;
include "stdgates.inc";
qubit q;
bit[1000000000] c;
