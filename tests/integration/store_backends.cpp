// Choosing the store contract suite's backend by kind.
#include "tests/integration/store_backends.hpp"

namespace hookless::test {

std::string name_of(store_kind kind) { return kind == store_kind::sqlite ? "sqlite" : "postgresql"; }

void PrintTo(store_kind kind, std::ostream* out) { *out << name_of(kind); }

std::unique_ptr<store_backend> make_store_backend(store_kind kind) {
  return kind == store_kind::sqlite ? make_sqlite_backend() : make_postgresql_backend();
}

}  // namespace hookless::test
