// RaftIO module.
