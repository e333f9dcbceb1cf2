# Sanitizers are applied per target (firerun_enable_sanitizers) rather than
# globally, because the guest agent is a static binary that ASan cannot serve.
set(FIRERUN_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)

function(firerun_enable_sanitizers target)
  if(FIRERUN_SANITIZE)
    target_compile_options(${target} PRIVATE ${FIRERUN_SANITIZER_FLAGS})
    target_link_options(${target} PRIVATE ${FIRERUN_SANITIZER_FLAGS})
  endif()
endfunction()

function(firerun_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
endfunction()
