// glibc's malloc_trim, which Swift's Glibc module does not import (it leaves
// out <malloc.h>).
#ifndef PORTHOLE_CMALLOC_SHIM_H
#define PORTHOLE_CMALLOC_SHIM_H
#include <malloc.h>
// Returns 1 when memory was given back to the kernel, 0 when there was none.
static inline int porthole_malloc_trim(void) {
    return malloc_trim(0);
}
#endif
