/* core/engine/plugin_elf.c - checks that a plugin file is a whole ELF shared
 * object before it is handed to dlopen. dlopen maps the file's segments
 * straight from the file: a truncated file (a copy cut short, a build
 * interrupted) maps pages past its end, and the first touch of them kills
 * the process with SIGBUS inside the loader. So every header and every
 * segment's file range must lie inside the file, and the file must be a
 * shared object (ET_DYN) for this machine's class and byte order. */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/internal.h"
#include "core/engine/plugin_elf.h"

/* Fills the fields both ELF classes share, widened to 64 bits. */
typedef struct elf_summary {
    uint16_t type, machine, phentsize, phnum, shentsize, shnum;
    uint64_t phoff, shoff;
} elf_summary;

static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
    return pread(fd, buf, n, (off_t)off) == (ssize_t)n;
}

/* 1 when [off, off + size) lies inside a file of file_size bytes. */
static int inside(uint64_t off, uint64_t size, uint64_t file_size)
{
    return off <= file_size && size <= file_size - off;
}

fx_status fx_plugin_check_elf(fx_context *ctx, const char *path)
{
    const char *why = "";
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return fx_fail(ctx, FX_ERR_INVALID, "plugin %s is a folder; give the shared object file (NAME.so) in it",
                       path);
    int fd = fx_open_regular(path, &why);
    if (fd < 0)
        return fx_fail(ctx, FX_ERR_IO, "plugin %s: cannot open: %s", path, why);
    fx_status st = FX_OK;
    unsigned char ident[EI_NIDENT];
    if (fstat(fd, &sb) != 0) {
        st = fx_fail(ctx, FX_ERR_IO, "plugin %s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    uint64_t file_size = (uint64_t)sb.st_size;
    if (!read_at(fd, ident, sizeof ident, 0) || memcmp(ident, ELFMAG, SELFMAG) != 0) {
        st = fx_fail(ctx, FX_ERR_INVALID,
                     "plugin %s is not a shared object (no ELF header); a plugin is built as a shared library, "
                     "with CMake add_library(NAME MODULE ...) (see docs/plugins.md)",
                     path);
        goto done;
    }
    const int want_class = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
    const int want_data = fx_host_is_little_endian() ? ELFDATA2LSB : ELFDATA2MSB;
    if (ident[EI_CLASS] != want_class || ident[EI_DATA] != want_data) {
        st = fx_fail(ctx, FX_ERR_INVALID,
                     "plugin %s was built for another architecture (ELF class %d, byte order %d; this fx needs %d, %d)",
                     path, ident[EI_CLASS], ident[EI_DATA], want_class, want_data);
        goto done;
    }
    elf_summary e;
    memset(&e, 0, sizeof e);
    size_t phdr_size;
    if (want_class == ELFCLASS64) {
        Elf64_Ehdr h;
        if (!read_at(fd, &h, sizeof h, 0))
            goto truncated;
        e = (elf_summary){ h.e_type, h.e_machine, h.e_phentsize, h.e_phnum, h.e_shentsize, h.e_shnum,
                           h.e_phoff, h.e_shoff };
        phdr_size = sizeof(Elf64_Phdr);
    } else {
        Elf32_Ehdr h;
        if (!read_at(fd, &h, sizeof h, 0))
            goto truncated;
        e = (elf_summary){ h.e_type, h.e_machine, h.e_phentsize, h.e_phnum, h.e_shentsize, h.e_shnum,
                           h.e_phoff, h.e_shoff };
        phdr_size = sizeof(Elf32_Phdr);
    }
    if (e.type != ET_DYN) {
        st = fx_fail(ctx, FX_ERR_INVALID,
                     "plugin %s is an ELF file but not a shared object (ELF type %u: %s); build it with CMake "
                     "add_library(NAME MODULE ...) (see docs/plugins.md)",
                     path, e.type, e.type == ET_EXEC ? "a program" : e.type == ET_REL ? "an object file" : "other");
        goto done;
    }
    if (e.phnum == 0 || e.phentsize != phdr_size) {
        st = fx_fail(ctx, FX_ERR_INVALID, "plugin %s: its ELF header is damaged (%u program headers of %u bytes)",
                     path, e.phnum, e.phentsize);
        goto done;
    }
    if (!inside(e.phoff, (uint64_t)e.phnum * e.phentsize, file_size))
        goto truncated;
    if (e.shnum && !inside(e.shoff, (uint64_t)e.shnum * e.shentsize, file_size))
        goto truncated;
    for (unsigned i = 0; i < e.phnum; i++) {
        uint64_t off = e.phoff + (uint64_t)i * e.phentsize, p_offset, p_filesz;
        uint32_t p_type;
        if (want_class == ELFCLASS64) {
            Elf64_Phdr ph;
            if (!read_at(fd, &ph, sizeof ph, off))
                goto truncated;
            p_type = ph.p_type;
            p_offset = ph.p_offset;
            p_filesz = ph.p_filesz;
        } else {
            Elf32_Phdr ph;
            if (!read_at(fd, &ph, sizeof ph, off))
                goto truncated;
            p_type = ph.p_type;
            p_offset = ph.p_offset;
            p_filesz = ph.p_filesz;
        }
        if (p_type != PT_NULL && !inside(p_offset, p_filesz, file_size))
            goto truncated;
    }
    goto done;
truncated:
    st = fx_fail(ctx, FX_ERR_INVALID,
                 "plugin %s is truncated or damaged: its ELF headers describe data past the end of the file (%llu "
                 "bytes); rebuild or copy it again",
                 path, (unsigned long long)file_size);
done:
    close(fd);
    return st;
}
