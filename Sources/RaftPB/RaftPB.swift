// RaftPB module.
