"""The example project's pytest setup. Its only job: make `import shop` work (pytest puts
this directory on sys.path because this conftest lives here). The cachecheck plugin itself
is loaded by its pytest11 entry point, as in any project that installs it."""
