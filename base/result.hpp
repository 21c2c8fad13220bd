// result<T, E>: a value or an error, for operations whose failure is ordinary (a 404, a refused
// connection) and must be handled, not thrown. C++20 has no std::expected yet.
#pragma once

#include <cassert>
#include <utility>
#include <variant>

namespace lifeboat {

template <class E>
struct failure {
    E error;
};
template <class E>
failure(E) -> failure<E>;

template <class T, class E>
class [[nodiscard]] result {
public:
    result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    template <class E2>
    result(failure<E2> f) : v_(std::in_place_index<1>, std::move(f.error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(v_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const E& error() const {
        assert(!ok());
        return std::get<1>(v_);
    }
    E& error() {
        assert(!ok());
        return std::get<1>(v_);
    }

private:
    std::variant<T, E> v_;
};

// result<void, E>
struct ok_t {};
inline constexpr ok_t ok_v{};

template <class E>
class [[nodiscard]] result<void, E> {
public:
    result(ok_t = {}) {}
    template <class E2>
    result(failure<E2> f) : err_(std::move(f.error))
                          , failed_(true) {}

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const E& error() const {
        assert(failed_);
        return err_;
    }
    E& error() {
        assert(failed_);
        return err_;
    }

private:
    E err_{};
    bool failed_ = false;
};

} // namespace lifeboat
