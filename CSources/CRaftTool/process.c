#include "crafttool.h"

#ifdef __linux__
#include <signal.h>
#include <sys/prctl.h>
#endif

int rafthttp_exit_with_parent(void) {
#ifdef __linux__
    return prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 ? 0 : -1;
#else
    return -1;
#endif
}
