// Certificate-related OpenSSL macro wrappers (see shim.h).
#ifndef PORTHOLE_COPENSSL_SHIM_CERTS_H
#define PORTHOLE_COPENSSL_SHIM_CERTS_H
#endif
