#include "craftio.h"
int rio_version(void) { return 1; }
