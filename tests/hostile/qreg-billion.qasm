// expect: CIRCUIT_TOO_LARGE
// 97 bytes that made Qiskit allocate over 4 GiB
OPENQASM 2.0;
include "qelib1.inc";
qreg q[1000000000];
h q[0];
