// expect: CIRCUIT_TOO_LARGE
// a size written as an expression
OPENQASM 3.0;
include "stdgates.inc";
qubit[40000*40000] q;
