// zlib for Swift: raw DEFLATE (windowBits -15) for Halibut message framing.
#ifndef PORTHOLE_CZLIB_SHIM_H
#define PORTHOLE_CZLIB_SHIM_H
#include <zlib.h>
// deflateInit2/inflateInit2 are macros that pass the version and struct size.
static inline int porthole_deflate_init_raw(z_streamp s, int level) {
    return deflateInit2(s, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
}
static inline int porthole_inflate_init_raw(z_streamp s) {
    return inflateInit2(s, -15);
}
#endif
