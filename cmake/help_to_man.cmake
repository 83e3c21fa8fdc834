# Makes a man page from a program's --help and --version output (help2man is not needed):
#   cmake -DPROGRAM=path -DNAME=hooklessd -DSECTION=8 -DSUMMARY="..." -DOUTPUT=file -P help_to_man.cmake
execute_process(COMMAND ${PROGRAM} --help OUTPUT_VARIABLE help RESULT_VARIABLE help_status)
execute_process(COMMAND ${PROGRAM} --version OUTPUT_VARIABLE version RESULT_VARIABLE version_status)
if(NOT help_status EQUAL 0 OR NOT version_status EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} --help / --version failed")
endif()
string(STRIP "${version}" version)
# roff: a backslash must be doubled, and a line starting with . or ' would be read as a request.
string(REPLACE "\\" "\\e" help "${help}")
string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
string(TIMESTAMP today "%Y-%m-%d" UTC)
string(TOUPPER "${NAME}" upper)
file(WRITE ${OUTPUT}
  ".TH ${upper} ${SECTION} \"${today}\" \"${version}\"\n"
  ".SH NAME\n${NAME} \\- ${SUMMARY}\n"
  ".SH SYNOPSIS\n.nf\n${help}.fi\n"
  ".SH FILES\n.nf\n/etc/hookless/hookless.yaml\n/etc/hookless/extend-api-key\n/run/hookless/hookless.sock\n/var/lib/hookless/state.db\n.fi\n"
  ".SH SEE ALSO\n.BR hooklessd (8),\n.BR hooklessctl (1),\n.BR systemctl (1);\n/usr/share/doc/hookless/README.md and hookless.example.yaml\n")
