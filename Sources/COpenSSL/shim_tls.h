// TLS-related OpenSSL macro wrappers (see shim.h).
#ifndef PORTHOLE_COPENSSL_SHIM_TLS_H
#define PORTHOLE_COPENSSL_SHIM_TLS_H
#endif
