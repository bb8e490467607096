// The only door to libxxhash (Debian: libxxhash-dev). XXH3-128 streaming API.
#include <xxhash.h>
