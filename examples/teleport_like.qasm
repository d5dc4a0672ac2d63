OPENQASM 3.0;
include "stdgates.inc";
// Mid-circuit measurement and reset: qubit 0 is measured, reset and reused.
qubit[3] q;
bit[3] c;
h q[0];
cx q[0], q[1];
c[0] = measure q[0];
reset q[0];
x q[0];
cx q[1], q[2];
c[1] = measure q[1];
c[2] = measure q[2];
