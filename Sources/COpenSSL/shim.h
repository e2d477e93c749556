// OpenSSL 3 for Swift: the headers Porthole uses, plus static inline wrappers
// for the macros Swift cannot import (they expand to casts or ctrl calls).
#ifndef PORTHOLE_COPENSSL_SHIM_H
#define PORTHOLE_COPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/opensslv.h>

#include "shim_tls.h"
#include "shim_certs.h"

#endif
