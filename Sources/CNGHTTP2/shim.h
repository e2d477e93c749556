// nghttp2 (1.52, Debian 12) for Swift.
#ifndef PORTHOLE_CNGHTTP2_SHIM_H
#define PORTHOLE_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>
static inline uint32_t porthole_nghttp2_version_num(void) { return NGHTTP2_VERSION_NUM; }
#endif
