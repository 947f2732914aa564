print("rafthttp")
