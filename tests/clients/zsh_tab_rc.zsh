# sourced by zsh_tab.zsh in the interactive zsh: compinit, the script under test, and two
# probes. bashcompinit's compgen -W does not filter the words; compadd matches them
# against the word being completed, so the candidates are recorded as compadd gets them.
PS1='> '
_zsh_tab_out=$2
autoload -U compinit && compinit -u -d $2.dump
source $1
compadd() {
    local -a a=("$@")
    local i=${a[(i)-]} j=${a[(i)-a]}
    if (( j < i )); then  # compadd -a NAME: the words are in the array NAME
        print -rl -- "${(@P)a[j+1]}" >> $_zsh_tab_out
    else
        print -rl -- "${(@)a[i+1,-1]}" >> $_zsh_tab_out
    fi
    builtin compadd "$@"
}
dumpbuf() { print -r -- "BUFFER=$BUFFER" >> $_zsh_tab_out; }
zle -N dumpbuf
bindkey "^X" dumpbuf
