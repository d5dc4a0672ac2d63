// expect: CIRCUIT_TOO_LARGE
// pow(k) @ builds the gate's matrix
OPENQASM 3.0;
include "stdgates.inc";
qubit[12] q;
gate big a, b, c, d, e, f, g, h, i, j, k, l { h a; }
pow(2) @ big q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], q[10], q[11];
