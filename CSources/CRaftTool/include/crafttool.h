/* Process plumbing for the `rafthttp` command-line tool, in C because Swift cannot call the
 * variadic prctl(2). Not part of the I/O core: nothing of sockets, loops or TLS here. */
#ifndef CRAFTTOOL_H
#define CRAFTTOOL_H

/* Linux: the calling process gets SIGKILL when its parent exits (a child worker, such as a
 * `rafthttp bench-follower` started by `rafthttp bench --processes`, must not outlive the program
 * that started it). Returns 0, or -1 where unsupported or refused. */
int rafthttp_exit_with_parent(void);

#endif
