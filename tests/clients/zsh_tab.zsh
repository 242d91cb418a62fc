# zsh -f zsh_tab.zsh SCRIPT OUT LINE: type LINE and TAB in an interactive zsh (zsh/zpty)
# that has sourced the completion SCRIPT, then ^X; OUT receives the candidates of each
# compadd call, one a line, and "BUFFER=" the line as TAB left it (tests/clients/test_shell.py).
zmodload zsh/zpty
script=$1 out=$2 line=$3
zpty -b z 'zsh -f -i'
zpty -w z "source ${0:A:h}/zsh_tab_rc.zsh ${(q)script} ${(q)out}"
zpty -w -n z "$line"$'\t'$'\x18'
for i in {1..100}; do
    grep -q '^BUFFER=' $out 2>/dev/null && break
    sleep 0.1
done
zpty -d z
