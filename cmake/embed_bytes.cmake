# embed_bytes.cmake - the one byte-array writer of the embedding scripts
# (embed.cmake: single documents; embed_files.cmake: the web console).
# embed_hex(<file> <out-var>) sets out-var to the file's bytes as C
# initialisers, "0x0a,0x1b,...", sixteen a line, followed by 0x00 (which
# keeps an empty file a valid array; lengths exclude it). Pure CMake
# (file(READ ... HEX)), so the build needs no xxd.
function(embed_hex path outvar)
  file(READ "${path}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  # CMake's regular expressions have no {n}: sixteen "0x..," spelled out.
  string(REPEAT "0x..," 16 b16)
  string(REGEX REPLACE "(${b16})" "\\1\n  " hex "${hex}")
  set(${outvar} "${hex}0x00" PARENT_SCOPE)
endfunction()
