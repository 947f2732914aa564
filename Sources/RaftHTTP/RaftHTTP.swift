// RaftHTTP module.
