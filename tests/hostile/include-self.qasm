// expect: CIRCUIT_INVALID
// a file that includes itself
OPENQASM 2.0;
include "include-self.qasm";
