// The only door to libsqlite3 (Debian: libsqlite3-dev).
#include <sqlite3.h>


// sqlite3_db_config is variadic, which Swift cannot call: a closing connection leaves
// the WAL to the next checkpoint instead of copying it back into the database file.
static inline int kiln_sqlite3_skip_checkpoint_on_close(sqlite3 *db) {
  return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}
