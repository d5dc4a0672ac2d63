// expect: CIRCUIT_TOO_LARGE
// OpenQASM 3 qubit[...] (Qiskit took 2 minutes for 10^8)
OPENQASM 3.0;
include "stdgates.inc";
qubit[1000000000] q;
