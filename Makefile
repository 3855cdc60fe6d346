# Thin wrapper around CMake: the two commands of the README and a few more.
#   make run      install missing packages, build, run the quick start on the
#                 embedded local backend
#   make test     build and run the whole test suite (ctest)
#   make asan     the same suite built with AddressSanitizer + UBSan
#   make bench    build and run the benchmarks
#   make install  install (PREFIX=/usr/local, DESTDIR honoured)
BUILD     ?= build
PREFIX    ?= /usr/local
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
CTEST_ARGS ?=

.PHONY: all deps configure build run test asan valgrind bench install uninstall docs fuzz lint clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	NOXRUNNER_INIT=$(CURDIR)/$(BUILD)/nox-init $(BUILD)/examples/quickstart

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

asan:
	$(MAKE) test BUILD=build-asan CMAKE_ARGS="-DNOX_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)"

# The library's and the server's tests under valgrind memcheck (a build of
# its own: sanitizers and valgrind do not mix).
valgrind: deps
	cmake -S . -B build-valgrind -DNOX_TEST_VALGRIND=ON $(CMAKE_ARGS)
	cmake --build build-valgrind -j $(JOBS)
	cd build-valgrind && ctest --output-on-failure -j $(JOBS) -L valgrind-run $(CTEST_ARGS)

bench: build
	$(BUILD)/bench/noxbench

# The helper's path is compiled in, so installing under another prefix than
# the one configured means configuring (and rebuilding) for it first.
install: deps
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)
	cmake --install $(BUILD)

uninstall:
	cmake --build $(BUILD) --target uninstall

docs: configure
	cmake --build $(BUILD) --target docs

fuzz:
	CC=clang cmake -S . -B build-fuzz -DNOX_BUILD_FUZZ=ON -DNOX_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-fuzz -j $(JOBS)

lint: configure
	scripts/lint.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-fuzz
