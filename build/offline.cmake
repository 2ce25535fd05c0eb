# Used by v8x's WAMR build (see .cargo/config.toml): take simde from /usr/include
# (Debian package libsimde-dev) instead of cloning it.
set(FETCHCONTENT_SOURCE_DIR_SIMDE /usr/include CACHE PATH "simde headers from the system")
