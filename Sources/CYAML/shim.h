// The only door to libyaml (Debian: libyaml-dev). Its event API, for KilnConfig's YAMLParser.
#include <yaml.h>
