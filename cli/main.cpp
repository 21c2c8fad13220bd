#include <cstdio>
int main() { std::puts("lifeboat " LIFEBOAT_VERSION); }
