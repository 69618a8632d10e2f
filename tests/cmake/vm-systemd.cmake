# vm-systemd: sponged as a real systemd service (issue 10). tests/vm/systemd-host.sh packs this
# build into the .deb with CPack and boots Debian's kernel under qemu with systemd 252 as PID 1
# (tests/vm/vm-run.sh --systemd); tests/vm/systemd-guest.sh installs the package and drives the
# service: READY, API, a flops pipeline in cgroups under the delegated v2 subtree, an in-place
# cpu.max resize, reload (changed and broken pipeline), systemd-analyze security, stop, purge.
# Label vm: CI runs it in the -Werror build only. Shares the kernel cache with vm.cmake.
if(TARGET sponged AND TARGET spongectl AND TARGET sponge-worker-flops)
  sponge_add_test(NAME vm.systemd
                  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/vm/systemd-host.sh
                          --build ${CMAKE_BINARY_DIR} --cache ${CMAKE_BINARY_DIR}/vm-cache
                          --timeout 900
                  LABEL vm TIMEOUT 960)
else()
  sponge_add_test(NAME vm.systemd
                  COMMAND sh -c "echo 'vm.systemd: SKIP: sponged, spongectl or sponge-worker-flops is not a target of this build'; exit 77"
                  LABEL vm TIMEOUT 10)
endif()
