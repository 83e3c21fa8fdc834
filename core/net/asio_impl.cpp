// The one translation unit that compiles Asio, Asio's SSL and Beast (separate compilation keeps
// every other file quick to build).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
