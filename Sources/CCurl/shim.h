// The only door to libcurl (Debian: libcurl4-openssl-dev, built with nghttp2 for
// HTTP/2), for kiln-remote alone: the kiln executable never links it (issue 18: 7-8 ms
// at every process start). curl_easy_setopt, curl_multi_setopt and curl_easy_getinfo
// are variadic, which Swift cannot call; these typed wrappers are their only uses.
#ifndef KILN_CCURL_SHIM_H
#define KILN_CCURL_SHIM_H
#include <curl/curl.h>

static inline CURLcode kiln_curl_set_long(CURL *easy, CURLoption option, long value) {
  return curl_easy_setopt(easy, option, value);
}
static inline CURLcode kiln_curl_set_offset(CURL *easy, CURLoption option, curl_off_t value) {
  return curl_easy_setopt(easy, option, value);
}
static inline CURLcode kiln_curl_set_string(CURL *easy, CURLoption option, const char *value) {
  return curl_easy_setopt(easy, option, value);
}
static inline CURLcode kiln_curl_set_pointer(CURL *easy, CURLoption option, void *value) {
  return curl_easy_setopt(easy, option, value);
}
static inline CURLcode kiln_curl_set_list(CURL *easy, CURLoption option, struct curl_slist *value) {
  return curl_easy_setopt(easy, option, value);
}

// The three callbacks kiln-remote installs: body bytes in, header lines (and HTTP/2
// trailers) in, request body bytes out.
typedef size_t (*kiln_curl_data_callback)(char *bytes, size_t size, size_t count, void *context);
static inline CURLcode kiln_curl_set_write(CURL *easy, kiln_curl_data_callback callback) {
  return curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, callback);
}
static inline CURLcode kiln_curl_set_header(CURL *easy, kiln_curl_data_callback callback) {
  return curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, callback);
}
static inline CURLcode kiln_curl_set_read(CURL *easy, kiln_curl_data_callback callback) {
  return curl_easy_setopt(easy, CURLOPT_READFUNCTION, callback);
}

// Progress, about once a second and at every change: kiln-remote's stall check.
typedef int (*kiln_curl_progress_callback)(void *context, curl_off_t down_total, curl_off_t down_now, curl_off_t up_total,
                                           curl_off_t up_now);
static inline CURLcode kiln_curl_set_progress(CURL *easy, kiln_curl_progress_callback callback) {
  return curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, callback);
}

static inline CURLMcode kiln_curl_multi_set_long(CURLM *multi, CURLMoption option, long value) {
  return curl_multi_setopt(multi, option, value);
}

static inline long kiln_curl_response_code(CURL *easy) {
  long code = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
  return code;
}
/// How many new connections the transfer made (0: it ran on a reused one).
static inline long kiln_curl_num_connects(CURL *easy) {
  long count = 0;
  curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &count);
  return count;
}
/// The HTTP version the transfer's answer came in (CURL_HTTP_VERSION_*; 0 when none).
static inline long kiln_curl_http_version(CURL *easy) {
  long version = 0;
  curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
  return version;
}
static inline void *kiln_curl_private(CURL *easy) {
  char *value = 0;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, &value);
  return value;
}
#endif
