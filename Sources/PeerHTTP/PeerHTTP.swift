// PeerHTTP module.
