// The only door to libsqlite3 (Debian: libsqlite3-dev).
#include <sqlite3.h>
