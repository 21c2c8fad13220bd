// The single compiled copy of Asio, Asio's TLS layer and Beast (BOOST_*_SEPARATE_COMPILATION is
// defined project-wide), so the other translation units only parse declarations.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
