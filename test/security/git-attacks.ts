/**
 * Attacks on host-side git from inside the sandbox, for test/security/git.int.test.ts. Each is a shell
 * script run in the sandbox at /workspace (the work tree), as repository code would run there: a test
 * suite, an install script, code a model wrote. The script finds in its environment:
 *
 * - `P`: the payload, a shell command that, if the host ever runs it, writes the environment it got
 *   (so also `NIGHTSHIFT_CANARY`, were it leaked) to a canary file in a host temp directory and moves
 *   the origin's `main` back one commit;
 * - `PF`: the same as a script file's text (`#!/bin/sh` and P), for hooks and ext:: commands;
 * - `ORIGIN`: the host path of the origin repository (which the sandbox must not see).
 *
 * An attack plants its git configuration the way the old layout let it: `git init` in /workspace
 * gives it a `.git` (the real one when the clone's git directory is mounted; a planted one now).
 */
export interface GitAttack {
  /** Short name; also the canary file's name. */
  name: string;
  /** git's execution path it tries. */
  path: string;
  /** Run in the sandbox (sh -e), cwd /workspace. */
  script: string;
  /** Extra setup of the origin before the workspace is cloned (a gitlink, tracked files). */
  origin?: 'gitlink' | 'tracked-lib';
  /** The WorkspaceError code commitAll must refuse the change with; by default the commit succeeds. */
  refused?: string;
}

/** Hooks git runs around what nightshift does (commit, checkout, push, ref updates, index writes). */
const HOOKS = 'pre-commit prepare-commit-msg commit-msg post-commit pre-push reference-transaction post-checkout post-index-change post-rewrite pre-auto-gc push-to-checkout';

const hooksInto = (dir: string) =>
  `mkdir -p ${dir}; for h in ${HOOKS}; do printf '%s\\n' "$PF" > ${dir}/$h; chmod +x ${dir}/$h; done`;

/** A git directory the sandbox makes at `dir`: not bare, its fsmonitor and every hook the payload. */
const hostileGitDir = (dir: string) =>
  [`git init -q --bare ${dir}`, `git --git-dir=${dir} config core.bare false`, `git --git-dir=${dir} config core.fsmonitor "$P"`, hooksInto(`${dir}/hooks`)].join('; ');

/** A change to a tracked file, so that add, diff and commit have work to do. */
const TOUCH = 'echo "changed by the suite" >> README.md';

/** `git init` here, keeping what exists (the clone's own .git in the old layout). */
const INIT = 'git init -q . >/dev/null 2>&1 || true';

/** The host path of the work tree, as the sandbox can learn it from its own mount table. */
const HOST_TREE = `HOST_TREE=$(awk '$5=="/workspace"{print $4}' /proc/self/mountinfo)`;

/**
 * Makes, in the current directory, a repository whose HEAD is always the same commit (fixed content,
 * identity and dates): the base branch's submodule points at it, and the sandbox makes it again, so
 * that for host git the submodule is checked out at the recorded commit and only "dirty" — the case in
 * which `git add` runs `git status` inside it.
 */
export const SUBMODULE_COMMIT = [
  'export GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x.invalid GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x.invalid',
  'export GIT_AUTHOR_DATE=2001-01-01T00:00:00Z GIT_COMMITTER_DATE=2001-01-01T00:00:00Z',
  'git init -q -b main .',
  'echo aaaa > f',
  'git add f',
  'git -c core.hooksPath=/dev/null -c core.fsmonitor=false commit -q -m sub',
].join('; ');

export const GIT_ATTACKS: readonly GitAttack[] = [
  {
    name: 'fsmonitor',
    path: 'core.fsmonitor in .git/config',
    script: `${INIT}; git config core.fsmonitor "$P"; git config core.fsmonitorHookVersion 2; ${TOUCH}`,
  },
  {
    name: 'hooks',
    path: '.git/hooks (pre-commit, post-commit, pre-push, reference-transaction, post-checkout, …)',
    script: `${INIT}; ${hooksInto('.git/hooks')}; ${TOUCH}`,
  },
  {
    name: 'hooks-path',
    path: 'core.hooksPath to hooks in the tree',
    script: `${INIT}; ${hooksInto('.hooks')}; git config core.hooksPath .hooks; ${HOST_TREE}; git config --add core.hooksPath "$HOST_TREE/.hooks"; ${TOUCH}`,
  },
  {
    name: 'filter',
    path: 'filter.<x>.clean/smudge/process via .gitattributes and info/attributes',
    script: [
      INIT,
      `printf '* filter=evil\\n' > .gitattributes`,
      `mkdir -p .git/info; printf '* filter=evil\\n' > .git/info/attributes`,
      `git config filter.evil.clean "$P"; git config filter.evil.smudge "$P"; git config filter.evil.process "$P"; git config filter.evil.required true`,
      TOUCH,
    ].join('; '),
  },
  {
    name: 'textconv',
    path: 'diff.<x>.textconv and diff.<x>.command via .gitattributes',
    script: `${INIT}; printf '* diff=evil\\n' > .gitattributes; git config diff.evil.textconv "$P"; git config diff.evil.command "$P"; git config diff.evil.cachetextconv false; ${TOUCH}`,
  },
  {
    name: 'diff-external',
    path: 'diff.external',
    script: `${INIT}; git config diff.external "$P"; ${TOUCH}`,
  },
  {
    name: 'merge-driver',
    path: 'merge.<x>.driver via .gitattributes',
    script: `${INIT}; printf '* merge=evil\\n' > .gitattributes; git config merge.evil.driver "$P"; git config merge.evil.recursive evil; ${TOUCH}`,
  },
  {
    name: 'include',
    path: 'include.path and includeIf.<cond>.path to a file in the tree',
    script: [
      INIT,
      `printf '[core]\\n\\tfsmonitor = "%s"\\n[filter "lfs"]\\n\\tclean = "%s"\\n\\tsmudge = "%s"\\n[alias]\\n\\tadd = "!%s"\\n' "$P" "$P" "$P" "$P" > evil.cfg`,
      `printf '* filter=lfs\\n' > .gitattributes`,
      'git config include.path ../evil.cfg',
      `git config 'includeIf.gitdir:/.path' ../evil.cfg`,
      `${HOST_TREE}; git config --add include.path "$HOST_TREE/evil.cfg"`,
      TOUCH,
    ].join('; '),
  },
  {
    name: 'alias',
    path: 'alias.<builtin> = !command',
    script: `${INIT}; for a in add commit diff log push reset clean status checkout show ls-remote rev-parse; do git config alias.$a "!$P"; done; ${TOUCH}`,
  },
  {
    name: 'credential-helper',
    path: 'credential.helper, core.askPass',
    script: `${INIT}; git config credential.helper "!$P"; git config core.askPass "$P"; git config credential.useHttpPath true; ${TOUCH}`,
  },
  {
    name: 'ssh-ext',
    path: 'core.sshCommand, remote url ext::, remote receivepack/uploadpack, protocol.ext.allow',
    script: [
      INIT,
      `printf '%s\\n' "$PF" > evil.sh; chmod +x evil.sh; ${HOST_TREE}`,
      'git config protocol.allow always; git config protocol.ext.allow always',
      'git config remote.origin.url "ext::$HOST_TREE/evil.sh"',
      'git config remote.origin.pushurl ssh://git@127.0.0.1/evil.git',
      `git config core.sshCommand "$P"; git config remote.origin.receivepack "$P"; git config remote.origin.uploadpack "$P"`,
      TOUCH,
    ].join('; '),
  },
  {
    name: 'pager-editor',
    path: 'core.pager, pager.<cmd>, core.editor, sequence.editor',
    script: `${INIT}; git config core.pager "$P"; git config pager.diff "$P"; git config pager.log "$P"; git config core.editor "$P"; git config sequence.editor "$P"; ${TOUCH}`,
  },
  {
    name: 'gitfile-redirect',
    path: 'a .git file at the top of the tree naming a git directory the sandbox made',
    script: [
      hostileGitDir('.evil'),
      `git --git-dir=.evil config filter.evil.clean "$P"; printf '* filter=evil\\n' > .gitattributes`,
      `rm -rf .git; printf 'gitdir: .evil\\n' > .git`,
      TOUCH,
    ].join('; '),
  },
  {
    name: 'nested-gitfile',
    path: 'a .git file in a subdirectory redirecting to a hostile git directory',
    script: [
      hostileGitDir('.evil'),
      `git --git-dir=.evil config filter.evil.clean "$P"; printf '* filter=evil\\n' > .gitattributes`,
      `mkdir -p sub; printf 'gitdir: ../.evil\\n' > sub/.git; echo x > sub/file.txt`,
      TOUCH,
    ].join('; '),
    refused: 'gitlink_refused',
  },
  {
    name: 'symlinked-git',
    path: '.git as a symlink to a git directory the sandbox made',
    script: [
      hostileGitDir('.evil2'),
      'rm -rf .git; ln -s .evil2 .git',
      TOUCH,
    ].join('; '),
  },
  {
    name: 'nested-repo',
    path: 'a new nested repository (gitlink) with its own config and hooks, and .gitmodules update=!command',
    script: [
      'mkdir -p vendor/lib; cd vendor/lib; git init -q',
      'git config core.fsmonitor "$P"',
      `printf '* filter=evil\\n' > .gitattributes; git config filter.evil.clean "$P"`,
      hooksInto('.git/hooks'),
      'echo x > f; git -c user.name=x -c user.email=x@x.invalid -c core.hooksPath=/dev/null -c core.fsmonitor=false commit -qm x --allow-empty',
      'cd ../..',
      `printf '[submodule "lib"]\\n\\tpath = vendor/lib\\n\\turl = ./vendor/lib\\n\\tupdate = !%s\\n' "$P" > .gitmodules`,
      TOUCH,
    ].join('; '),
    refused: 'gitlink_refused',
  },
  {
    name: 'gitlink-in-base',
    path: 'a submodule already in the base branch, its directory made a repository with hostile config',
    origin: 'gitlink',
    script: [
      'mkdir -p sub; cd sub',
      `(${SUBMODULE_COMMIT})`,
      'git config core.fsmonitor "$P"',
      `printf '* filter=evil\\n' > .gitattributes; git config filter.evil.clean "$P"; git config filter.evil.process "$P"`,
      hooksInto('.git/hooks'),
      // Same size, new content: git status in here would have to run the clean filter to compare.
      'echo bbbb > f; touch -d 2001-01-01 f',
      'cd ..',
      `printf '[submodule "sub"]\\n\\tpath = sub\\n\\turl = ./sub\\n\\tupdate = !%s\\n\\tignore = none\\n' "$P" > .gitmodules`,
      TOUCH,
    ].join('; '),
  },
  {
    name: 'gitattributes',
    path: 'a .gitattributes in the tree naming drivers the host might define (lfs) and ident/eol conversions',
    script: `printf '* filter=lfs diff=lfs merge=lfs ident\\n*.md text eol=crlf\\n' > .gitattributes; ${TOUCH}`,
  },
  {
    name: 'ownership',
    path: 'safe.directory: a sandbox-owned repository declaring itself safe',
    script: `${INIT}; git config safe.directory '*'; git config core.fsmonitor "$P"; git config core.sharedRepository 0777; chmod -R a+rwX .git; ${TOUCH}`,
  },
  {
    name: 'origin-write',
    path: 'writing the origin repository from inside the sandbox (it must not be mounted)',
    script: [
      'if [ -e "$ORIGIN" ]; then echo origin-visible; else echo origin-absent; fi',
      'git --git-dir="$ORIGIN/.git" update-ref refs/heads/main HEAD 2>/dev/null || true',
      'mkdir -p "$ORIGIN/.git/hooks" 2>/dev/null && printf "%s\\n" "$PF" > "$ORIGIN/.git/hooks/post-receive" 2>/dev/null || true',
      `if grep -q " $ORIGIN" /proc/self/mountinfo; then echo origin-mounted; fi`,
      TOUCH,
    ].join('; '),
  },
  {
    name: 'update-ref-main',
    path: 'update-ref on main, mirror and push refspecs in the workspace',
    script: [
      INIT,
      'git update-ref refs/heads/main "$(git rev-parse HEAD 2>/dev/null || git hash-object -t commit --stdin -w </dev/null)" 2>/dev/null || true',
      `git config remote.origin.mirror true; git config remote.origin.push '+refs/heads/*:refs/heads/*'; git config --add remote.origin.push '+HEAD:refs/heads/main'`,
      'git config push.default matching; git config remote.pushDefault origin',
      hooksInto('.git/hooks'),
      TOUCH,
    ].join('; '),
  },
  {
    name: 'symlink-to-git-dir',
    path: 'a tracked directory replaced by a symlink to the (sibling) git directory, then checked out again',
    origin: 'tracked-lib',
    script: ['rm -rf lib', 'ln -s ../git lib', 'ln -s ../git/hooks hooks', 'ln -s ../git/config config.lnk', TOUCH].join('; '),
  },
];
